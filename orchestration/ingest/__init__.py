"""Loading Segment-Spec calls from files into the raw layer of the warehouse."""
