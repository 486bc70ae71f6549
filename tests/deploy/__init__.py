"""The controller image (Dockerfile), the manifests a team applies (examples/deploy/) and the
CI workflow example, checked without a container engine."""
