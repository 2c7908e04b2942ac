"""An in-process test double of the Kubernetes API server (see docs/kubernetes-backend.md).

`KubeApiServer` serves the REST API lightkube and the kubernetes Python client use, over plain
HTTP on 127.0.0.1, with a simulated job controller, PVC binder and kubelet, and fault injection.
It exists only for tests: nothing in `budeval/` may import it.
"""

from tests.kube.server import KubeApiServer

__all__ = ["KubeApiServer"]
