"""ttpose: test-time personalization of a 2D human pose estimator (Li et al., NeurIPS 2021)."""

__version__ = "0.1.0"
