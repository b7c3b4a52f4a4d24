"""Workload types, one a file: ``closed`` (N concurrent users), ``open`` (session arrivals), ``trace``."""
