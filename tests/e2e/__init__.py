"""End-to-end test bed: a data plane that routes load to real model servers.

``routing`` (the pure routing table), ``load`` (the load generator), ``dataplane`` (keeps the
weights in force), ``clusterplane`` (follows the real API server), ``cluster`` (writes the
model Service's objects through the official client), ``servingbed`` (model servers, data
planes and Prometheus around a namespace of the real control plane); ``test_dataplane``
tests them.
"""
