#!/usr/bin/env python3
# Makes a `kind: Pod` from the pod template of a Job manifest, for
# `podman kube play` (which plays Pods, not Jobs): the pod the test runs
# is the Job's own template, so the two cannot drift apart.
#
#   python3 tests/k8s-pod-from-job.py JOB.yaml [--name NAME] [--image IMAGE]
#       [--host-network] [--env KEY=VALUE]... [--index N]
#       [--secret-dir DIR] [--volume-prefix PREFIX]
#       [--block-device CLAIM=DEVICE] > pod.yaml
#
#  --name NAME        the Pod's name (default: the Job's).
#  --image IMAGE      every container's image (the test's localhost/xdisk:test).
#  --host-network     hostNetwork: true (to reach a server on 127.0.0.1).
#  --env KEY=VALUE    set (or replace) an env var in every container, e.g.
#                     XDISK_SOURCE=http://127.0.0.1:PORT/disk.vmdk.
#  --index N          JOB_COMPLETION_INDEX=N, as Kubernetes sets it in each
#                     pod of an Indexed Job (refused for another Job, and
#                     for N >= completions).
#  --secret-dir DIR   replace each secret volume by a hostPath directory
#                     DIR of files (one per key).  podman 4.3.1's kube play
#                     cannot stand in for the Secret: without an explicit
#                     `optional` it crashes (nil pointer in
#                     VolumeFromSecret), and with one it writes the keys of a
#                     played Secret's `data` still base64-encoded (both seen
#                     on Debian 12's podman 4.3.1).  The files, their mount
#                     path and its readOnly stay as the Job has them.
#  --volume-prefix P  prefix every volume name, PVC claimName and
#                     ConfigMap name with P-: podman 4.3 makes a named
#                     volume, global on the host, for each PVC (named after
#                     its claim), emptyDir (after the volume) and ConfigMap
#                     (after the ConfigMap, and a volume that exists is
#                     used as it is), so a test makes them its own and
#                     removes them.  The ConfigMap that `kube play
#                     --configmap FILE` reads must then be named P-NAME.
#  --block-device CLAIM=DEVICE
#                     the block PVC CLAIM is the host's block device DEVICE
#                     (a loop device): podman 4.3.1 ignores volumeDevices,
#                     so the PVC becomes a hostPath of type BlockDevice and
#                     each volumeDevice on it a volumeMount at its
#                     devicePath (podman then passes the device in there).
#
# Only what a Pod may hold is kept: the template's metadata (labels,
# annotations) and spec; the Job's own fields (backoffLimit, completions,
# ...) have no Pod equivalent and are dropped.

import argparse
import copy
import sys

import yaml


def fail(text):
    sys.exit("k8s-pod-from-job.py: %s" % text)


def the_job(path):
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        fail("%s: %s" % (path, e))
    jobs = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Job"]
    if len(jobs) != 1:
        fail("%s: %d Jobs, not one" % (path, len(jobs)))
    return jobs[0]


def set_env(container, key, value):
    env = container.setdefault("env", [])
    env[:] = [e for e in env if e.get("name") != key]
    env.append({"name": key, "value": value})


def main():
    ap = argparse.ArgumentParser(description="A Pod from a Job's pod template.")
    ap.add_argument("job")
    ap.add_argument("--name")
    ap.add_argument("--image")
    ap.add_argument("--host-network", action="store_true")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--index", type=int)
    ap.add_argument("--secret-dir")
    ap.add_argument("--volume-prefix")
    ap.add_argument("--block-device", metavar="CLAIM=DEVICE")
    a = ap.parse_args()

    job = the_job(a.job)
    jspec = job.get("spec") or {}
    template = jspec.get("template") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    if not spec.get("containers"):
        fail("%s: the Job's pod template has no containers" % a.job)
    meta = {"name": a.name or (job.get("metadata") or {}).get("name")}
    for k in ("labels", "annotations"):
        if (template.get("metadata") or {}).get(k):
            meta[k] = copy.deepcopy(template["metadata"][k])

    env = []
    for kv in a.env:
        if "=" not in kv:
            fail("--env %s: not KEY=VALUE" % kv)
        env.append(kv.split("=", 1))
    if a.index is not None:
        if jspec.get("completionMode") != "Indexed":
            fail("--index: %s is not an Indexed Job" % a.job)
        if not 0 <= a.index < int(jspec.get("completions", 0)):
            fail("--index %d: the Job has %s completions"
                 % (a.index, jspec.get("completions")))
        env.append(["JOB_COMPLETION_INDEX", str(a.index)])
        meta.setdefault("annotations", {})[
            "batch.kubernetes.io/job-completion-index"] = str(a.index)

    for c in spec["containers"]:
        if a.image:
            c["image"] = a.image
        for k, v in env:
            set_env(c, k, v)
    if a.host_network:
        spec["hostNetwork"] = True

    secrets = [v for v in spec.get("volumes") or [] if "secret" in v]
    if secrets and not a.secret_dir:
        fail("%s mounts a Secret: podman 4.3 cannot play it, give --secret-dir"
             % a.job)
    for v in secrets:
        del v["secret"]
        v["hostPath"] = {"path": a.secret_dir, "type": "Directory"}

    if a.block_device:
        claim, _, device = a.block_device.partition("=")
        if not device:
            fail("--block-device %s: not CLAIM=DEVICE" % a.block_device)
        names = set()
        for v in spec.get("volumes") or []:
            if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                del v["persistentVolumeClaim"]
                v["hostPath"] = {"path": device, "type": "BlockDevice"}
                names.add(v["name"])
        if not names:
            fail("--block-device: %s mounts no PVC %s" % (a.job, claim))
        for c in spec["containers"]:
            keep = []
            for d in c.get("volumeDevices", []):
                if d["name"] in names:
                    c.setdefault("volumeMounts", []).append(
                        {"name": d["name"], "mountPath": d["devicePath"]})
                else:
                    keep.append(d)
            if keep:
                c["volumeDevices"] = keep
            else:
                c.pop("volumeDevices", None)

    if a.volume_prefix:
        p = a.volume_prefix + "-"
        for v in spec.get("volumes") or []:
            v["name"] = p + v["name"]
            pvc = v.get("persistentVolumeClaim")
            if pvc:
                pvc["claimName"] = p + pvc["claimName"]
            cm = v.get("configMap")
            if cm:
                cm["name"] = p + cm["name"]
        for c in spec["containers"] + spec.get("initContainers", []):
            for m in c.get("volumeMounts", []) + c.get("volumeDevices", []):
                m["name"] = p + m["name"]

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    yaml.safe_dump(pod, sys.stdout, default_flow_style=False, sort_keys=False)


if __name__ == "__main__":
    main()
