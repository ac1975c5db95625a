"""Layers and managed dependencies (docs/decisions/0701-dependency-layers.md).

PublishLayerVersion's layers and the dependency layers the platform builds from a
function's requirements.txt, both merged under a version's /opt; the background builder
that runs pip in a sandbox; and the collector that removes what nothing references.
`Layers` (layers.py) is the entry point.
"""
