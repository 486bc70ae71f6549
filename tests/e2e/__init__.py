"""End-to-end test bed: a data plane that routes load to real model servers.

``routing`` (the pure routing table), ``load`` (the load generator), ``dataplane`` (follows
the test API server and keeps the weights in force), ``cluster`` (writes the model Service's
objects through the official client); ``test_dataplane`` tests them.
"""
