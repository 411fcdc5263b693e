"""Deterministic demo data: Segment-Spec calls for a shop + SaaS business."""

from orchestration.demo_data.generator import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
