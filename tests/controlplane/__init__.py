"""A real Kubernetes control plane for the tests (issue 13).

``build.sh`` builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
from pinned Go modules (the wrapper modules ``etcd/``, ``kube/``, ``kwok/``); ``cluster``
starts them on 127.0.0.1; ``fixtures`` gives tests a session control plane and a namespace
each; ``audit`` reads the API server's audit log as the write history; ``rbac`` applies the
shipped RBAC manifests to a test; ``workloads`` builds kwok GPU nodes and model Deployments;
``webhook`` runs ``mlrollout admission`` and registers the shipped admission configurations.
Tests marked ``controlplane`` use it.
"""
