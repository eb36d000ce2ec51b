#!/usr/bin/python3
"""kubelet's PodResources API for the tests: v1.PodResourcesLister/List over gRPC (grpcio, HTTP/2
with prior knowledge) on a unix socket, as kubelet serves it on
<root-dir>/pod-resources/kubelet.sock. The messages are compiled from podresources.proto (next to
this file) with protoc at start, so what goes over the wire is protobuf's own encoding.

  pod-resources-server.py --socket PATH --pods FILE

FILE (read on every call, so a test can change it) is a JSON list of pods:
  [{"namespace": "ns1", "name": "web",
    "containers": [{"name": "c", "devices": [{"resourceName": "intel.com/sriov_a",
                                              "deviceIDs": ["0000:03:00.2"], "numa": [0]}],
                    "cpuIDs": [2, 3]}]}]
or {"fail": "UNAVAILABLE", "message": "..."} to answer every call with that gRPC status.
Prints "listening" once the socket accepts calls.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent import futures

import grpc

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--socket", required=True)
ap.add_argument("--pods", required=True)
opts = ap.parse_args()

gen = tempfile.mkdtemp(prefix="swcni-podresources-")
subprocess.run(["protoc", "--python_out=" + gen, "-I", here, os.path.join(here, "podresources.proto")], check=True)
sys.path.insert(0, gen)
import podresources_pb2 as pb  # noqa: E402


def list_pods(request, context):
    with open(opts.pods) as f:
        spec = json.load(f)
    if isinstance(spec, dict) and "fail" in spec:
        context.abort(getattr(grpc.StatusCode, spec["fail"]), spec.get("message", "test failure"))
    response = pb.ListPodResourcesResponse()
    for p in spec:
        pod = response.pod_resources.add(name=p["name"], namespace=p["namespace"])
        for c in p.get("containers", []):
            container = pod.containers.add(name=c.get("name", "c"), cpu_ids=c.get("cpuIDs", []))
            for d in c.get("devices", []):
                dev = container.devices.add(resource_name=d["resourceName"], device_ids=d["deviceIDs"])
                for n in d.get("numa", []):
                    dev.topology.nodes.add(ID=n)
    return response


handler = grpc.method_handlers_generic_handler("v1.PodResourcesLister", {
    "List": grpc.unary_unary_rpc_method_handler(
        list_pods,
        request_deserializer=pb.ListPodResourcesRequest.FromString,
        response_serializer=pb.ListPodResourcesResponse.SerializeToString),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port("unix:" + opts.socket)
server.start()
print("listening", flush=True)
server.wait_for_termination()
