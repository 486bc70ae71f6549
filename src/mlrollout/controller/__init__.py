"""The controller runtime: observe, decide, act, repeat — for ``promote`` and in the cluster.

Top of the stack below ``cli``. The pure decision core lives in ``mlrollout.core``; this
package is everything with effects around it: ``ports`` (what the loop needs from the
world), ``analyst`` (metrics into judged evidence), ``gating`` (the release's gates),
``effects`` (actions applied intent-first, status written last), ``loop`` (one reconcile
pass), ``driver`` (``promote``: follow or drive under the Lease), ``manager`` with
``workqueue`` and ``telemetry`` (the in-cluster controller), and ``kubernetes`` (the
Kubernetes platform behind the ports).
"""
