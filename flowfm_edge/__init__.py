"""flowfm-edge: train FlowFM and deploy it to edge devices."""

__version__ = "0.1.0"
