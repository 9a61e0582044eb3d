"""Metrics, computed offline: likelihood baselines (and, as families land, FID, anomaly, recsys, tabular)."""

from .likelihood import independent_bernoulli_log_likelihood

__all__ = ["independent_bernoulli_log_likelihood"]
