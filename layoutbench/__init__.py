"""layoutbench: measure and recommend cloud-friendly layouts for NWB data."""

__version__ = "0.1.0"
