"""Deployment files (``configs/bots/*.yaml``): which surfaces serve which GPTs, to whom."""
