"""Tests of the local sandbox: the reference model server and the load generator."""
