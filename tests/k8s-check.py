#!/usr/bin/env python3
# Checks the Kubernetes manifests of contrib/kubernetes without a cluster:
# every *.yaml must parse (python3-yaml) and have the fields the example
# relies on (see check_* below: kinds, Jobs, volumes, the Secret, the
# securityContext, the Indexed Job against its ConfigMap, the block
# Job, the KubeVirt DataVolume and VM, one image everywhere).
#
#   python3 tests/k8s-check.py DIR
#
# Prints one line per problem (FILE: KIND/NAME: what is wrong) and exits
# 1 if there is any, else prints a summary and exits 0.  Used by
# tests/test-k8s-manifests.sh, which also breaks the manifests on purpose
# to see that each check fires.

import glob
import os
import re
import shlex
import sys

import yaml

KNOWN = {
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ConfigMap"),
    ("batch/v1", "Job"),
    ("cdi.kubevirt.io/v1beta1", "DataVolume"),
    ("kubevirt.io/v1", "VirtualMachine"),
}
SECRET = "xdisk-credentials"
SECRET_DIR = "/run/secrets/xdisk"
CONFIGMAP = "xdisk-disks"
CONFIGMAP_DIR = "/etc/xdisk"
DEVICE = "/dev/xdisk-target"
UID = 10001
NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")

problems = []


def problem(where, text):
    problems.append("%s: %s" % (where, text))


def load(directory):
    """All documents of DIR/*.yaml as (file, doc) pairs."""
    docs = []
    files = sorted(glob.glob(os.path.join(directory, "*.yaml")))
    if not files:
        problem(directory, "no *.yaml file")
    for path in files:
        name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not text.startswith("#"):
            problem(name, "no header comment saying what it is for")
        try:
            for doc in yaml.safe_load_all(text):
                if doc is not None:
                    docs.append((name, doc))
        except yaml.YAMLError as e:
            problem(name, "does not parse: %s" % str(e).replace("\n", " "))
    return docs


def where(f, doc):
    meta = doc.get("metadata") or {}
    return "%s: %s/%s" % (f, doc.get("kind"), meta.get("name"))


def command_words(container):
    """The words of the container's command and args, the shell script
    (bash -c SCRIPT) split into words too."""
    words = []
    for w in (container.get("command") or []) + (container.get("args") or []):
        try:
            words += shlex.split(w, comments=True)
        except ValueError:
            words += w.split()
    return words


def option_values(words, option):
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == option]


def effective_security(pod, container):
    """The container's securityContext over the pod's (the fields the two
    share)."""
    sc = dict(pod.get("securityContext") or {})
    sc.update(container.get("securityContext") or {})
    return sc


def check_security(w, pod, c):
    sc = effective_security(pod, c)
    if sc.get("runAsNonRoot") is not True:
        problem(w, "securityContext runAsNonRoot is not true")
    if sc.get("runAsUser") != UID:
        problem(w, "securityContext runAsUser is not %d" % UID)
    csc = c.get("securityContext") or {}
    if csc.get("readOnlyRootFilesystem") is not True:
        problem(w, "securityContext readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problem(w, "securityContext allowPrivilegeEscalation is not false")
    drop = (csc.get("capabilities") or {}).get("drop") or []
    if "ALL" not in drop:
        problem(w, "securityContext capabilities do not drop ALL")
    if (csc.get("capabilities") or {}).get("add"):
        problem(w, "securityContext capabilities add some")


def check_resources(w, c):
    r = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in (r.get(kind) or {}):
                problem(w, "resources.%s.%s not set" % (kind, what))


def check_no_secret_env(w, c):
    for e in c.get("env") or []:
        if "secretKeyRef" in (e.get("valueFrom") or {}):
            problem(w, "env %s holds a secret" % e.get("name"))
    for e in c.get("envFrom") or []:
        if "secretRef" in e:
            problem(w, "envFrom takes a Secret into env vars")


def check_job(w, job, pvcs, configmaps):
    """Checks one Job; returns (image, claim names written, pod)."""
    spec = job.get("spec") or {}
    if not isinstance(spec.get("backoffLimit"), int) or spec["backoffLimit"] < 0:
        problem(w, "backoffLimit not set")
    if "backoffLimitPerIndex" in spec:
        problem(w, "backoffLimitPerIndex needs Kubernetes 1.29+")
    pod = (spec.get("template") or {}).get("spec") or {}
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problem(w, "restartPolicy is not Never or OnFailure")
    volumes = {}
    for v in pod.get("volumes") or []:
        if v.get("name") in volumes:
            problem(w, "volume %s defined twice" % v.get("name"))
        volumes[v.get("name")] = v
    containers = pod.get("containers") or []
    if len(containers) != 1:
        problem(w, "not exactly one container")
        return None, [], pod
    c = containers[0]
    check_security(w, pod, c)
    check_resources(w, c)
    check_no_secret_env(w, c)
    words = command_words(c)

    mounts = {}
    used = set()
    for m in c.get("volumeMounts") or []:
        if m.get("name") not in volumes:
            problem(w, "volumeMount %s names no volume of the pod" % m.get("name"))
        mounts[m.get("mountPath")] = m
        used.add(m.get("name"))
    devices = {}
    for d in c.get("volumeDevices") or []:
        if d.get("name") not in volumes:
            problem(w, "volumeDevice %s names no volume of the pod" % d.get("name"))
        devices[d.get("devicePath")] = d
        used.add(d.get("name"))
    for name in volumes:
        if name not in used:
            problem(w, "volume %s is not used" % name)

    def volume_at(table, path):
        m = table.get(path)
        return m, (volumes.get(m.get("name")) if m else None) or {}

    # The Secret, as read-only files; the credentials options inside it.
    m, v = volume_at(mounts, SECRET_DIR)
    if (v.get("secret") or {}).get("secretName") != SECRET:
        problem(w, "the Secret %s is not mounted at %s" % (SECRET, SECRET_DIR))
    elif m.get("readOnly") is not True:
        problem(w, "the Secret at %s is not mounted readOnly" % SECRET_DIR)
    for opt in ("--user-file", "--password-file"):
        values = option_values(words, opt)
        if not values:
            problem(w, "the command has no %s" % opt)
        for val in values:
            if not val.startswith(SECRET_DIR + "/"):
                problem(w, "%s %s is not in %s" % (opt, val, SECRET_DIR))
    for opt in ("--password", "--user"):
        if opt in words:
            problem(w, "the command passes %s as an argument" % opt)

    # /tmp, the only writable place of a read-only root.
    m, v = volume_at(mounts, "/tmp")
    if "emptyDir" not in v:
        problem(w, "no emptyDir at /tmp")

    # The target: a filesystem PVC at /target, or a block one as DEVICE.
    claims = []
    if devices:
        d, v = volume_at(devices, DEVICE)
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is None:
            problem(w, "no PVC as the volumeDevice %s" % DEVICE)
        elif (pvcs.get(claim) or {}).get("volumeMode") != "Block":
            problem(w, "PVC %s at %s is not volumeMode Block" % (claim, DEVICE))
        if DEVICE not in words:
            problem(w, "the command does not write %s" % DEVICE)
        if "/target" in mounts:
            problem(w, "a block Job mounts /target too")
        claims.append(claim)
    else:
        m, v = volume_at(mounts, "/target")
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is None:
            problem(w, "no PVC mounted at /target")
        elif (pvcs.get(claim) or {}).get("volumeMode", "Filesystem") != "Filesystem":
            problem(w, "PVC %s at /target is not volumeMode Filesystem" % claim)
        if not any(x.startswith("/target/") for x in words):
            problem(w, "the command writes nothing under /target")
        claims.append(claim)
    for claim in claims:
        if claim is not None and claim not in pvcs:
            problem(w, "PVC %s is not defined in any manifest" % claim)

    # The Indexed Job against its ConfigMap.
    if spec.get("completionMode") == "Indexed":
        check_indexed(w, spec, words, mounts, volumes, pvcs, configmaps, claims)
    return c.get("image"), claims, pod


def check_indexed(w, spec, words, mounts, volumes, pvcs, configmaps, claims):
    m = mounts.get(CONFIGMAP_DIR)
    v = volumes.get(m.get("name")) if m else None
    if (v or {}).get("configMap", {}).get("name") != CONFIGMAP:
        problem(w, "the ConfigMap %s is not mounted at %s" % (CONFIGMAP, CONFIGMAP_DIR))
    if not any("JOB_COMPLETION_INDEX" in x for x in words):
        problem(w, "the command does not use JOB_COMPLETION_INDEX")
    if not any(CONFIGMAP_DIR + "/disks" in x for x in words):
        problem(w, "the command does not read %s/disks" % CONFIGMAP_DIR)
    cm = configmaps.get(CONFIGMAP)
    if cm is None:
        problem(w, "no ConfigMap %s in the manifests" % CONFIGMAP)
        return
    text = (cm.get("data") or {}).get("disks")
    if not isinstance(text, str):
        problem(w, "ConfigMap %s has no key disks" % CONFIGMAP)
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    names = set()
    for i, line in enumerate(lines, 1):
        f = line.split()
        if len(f) < 2 or f[0].startswith("#"):
            problem(w, "ConfigMap disks line %d is not 'NAME SRC [OPTION...]'" % i)
            continue
        if not NAME_RE.match(f[0]):
            problem(w, "ConfigMap disks line %d: bad NAME %s" % (i, f[0]))
        if f[0] in names:
            problem(w, "ConfigMap disks line %d: NAME %s again" % (i, f[0]))
        names.add(f[0])
        for opt in ("--password", "--user", "--password-file", "--user-file"):
            if opt in f:
                problem(w, "ConfigMap disks line %d passes %s" % (i, opt))
    completions = spec.get("completions")
    if completions != len(lines):
        problem(w, "completions %s but ConfigMap %s lists %d disks"
                % (completions, CONFIGMAP, len(lines)))
    par = spec.get("parallelism")
    if not isinstance(par, int) or par < 1:
        problem(w, "parallelism not set")
    elif isinstance(completions, int) and par > completions:
        problem(w, "parallelism %d > completions %d" % (par, completions))
    for claim in claims:
        if "ReadWriteMany" not in ((pvcs.get(claim) or {}).get("accessModes") or []):
            problem(w, "the pods of an Indexed Job share PVC %s: "
                    "not ReadWriteMany" % claim)


def check_kubevirt(dvs, vms, single_claims):
    for w, dv in dvs:
        src = ((dv.get("spec") or {}).get("source") or {}).get("pvc") or {}
        if not src.get("namespace"):
            problem(w, "source.pvc.namespace not set")
        if src.get("name") not in single_claims:
            problem(w, "source.pvc.name %s is no PVC a single-disk Job writes"
                    % src.get("name"))
        st = (dv.get("spec") or {}).get("storage") or (dv.get("spec") or {}).get("pvc")
        if not (((st or {}).get("resources") or {}).get("requests") or {}).get("storage"):
            problem(w, "no storage size")
    dv_names = {(d.get("metadata") or {}).get("name") for _, d in dvs}
    if not dvs:
        problem("kubevirt", "no DataVolume")
    if not vms:
        problem("kubevirt", "no VirtualMachine")
    for w, vm in vms:
        spec = vm.get("spec") or {}
        for t in spec.get("dataVolumeTemplates") or []:
            dv_names.add((t.get("metadata") or {}).get("name"))
        tspec = (spec.get("template") or {}).get("spec") or {}
        disks = {d.get("name") for d in
                 ((tspec.get("domain") or {}).get("devices") or {}).get("disks") or []}
        ok = False
        for v in tspec.get("volumes") or []:
            name = (v.get("dataVolume") or {}).get("name")
            if name is None:
                continue
            if name not in dv_names:
                problem(w, "volume %s uses DataVolume %s, defined nowhere"
                        % (v.get("name"), name))
            elif v.get("name") not in disks:
                problem(w, "no disk uses volume %s" % v.get("name"))
            else:
                ok = True
        if not ok:
            problem(w, "no disk backed by the DataVolume")
        if "running" not in spec and "runStrategy" not in spec:
            problem(w, "neither running nor runStrategy set")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: k8s-check.py DIR")
    docs = load(sys.argv[1])
    by_kind = {}
    for f, d in docs:
        if not isinstance(d, dict):
            problem(f, "a document is not a mapping")
            continue
        if (d.get("apiVersion"), d.get("kind")) not in KNOWN:
            problem(f, "unknown apiVersion/kind %s/%s" % (d.get("apiVersion"), d.get("kind")))
        if not (d.get("metadata") or {}).get("name"):
            problem(f, "no metadata.name")
        by_kind.setdefault(d.get("kind"), []).append((where(f, d), d))

    def table(kind):
        return {(d.get("metadata") or {}).get("name"): d.get("spec") or {}
                for _, d in by_kind.get(kind, [])}
    pvcs = table("PersistentVolumeClaim")
    configmaps = {(d.get("metadata") or {}).get("name"): d
                  for _, d in by_kind.get("ConfigMap", [])}

    images = set()
    single_claims = set()
    kinds_of_target = set()
    for w, job in by_kind.get("Job", []):
        image, claims, pod = check_job(w, job, pvcs, configmaps)
        images.add(image)
        if (job.get("spec") or {}).get("completionMode") != "Indexed":
            single_claims.update(c for c in claims if c)
            kinds_of_target.add("block" if (pod.get("containers") or [{}])[0]
                                .get("volumeDevices") else "filesystem")
        else:
            kinds_of_target.add("indexed")
    if len(images) > 1:
        problem("images", "not the same image everywhere: %s"
                % ", ".join(sorted(map(str, images))))
    for k in ("filesystem", "block", "indexed"):
        if k not in kinds_of_target:
            problem("jobs", "no %s Job" % k)
    check_kubevirt(by_kind.get("DataVolume", []), by_kind.get("VirtualMachine", []),
                   single_claims)

    for p in problems:
        print(p)
    if problems:
        print("k8s-check: %d problem(s)" % len(problems))
        sys.exit(1)
    print("k8s-check: %d documents, %d Jobs, image %s: OK"
          % (len(docs), len(by_kind.get("Job", [])), ", ".join(map(str, images))))


if __name__ == "__main__":
    main()
