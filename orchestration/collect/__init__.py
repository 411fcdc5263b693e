"""Events straight from the SDKs: an HTTP collector speaking Segment's Tracking API that
appends every call durably to the landing folder, where the next tick loads it."""
