#!/usr/bin/env python3
"""Checks the deployment files offline, as part of the test command.

1. Renders every kustomize overlay (kubectl kustomize) and validates each object against the Kubernetes
   1.32 API schemas, strictly (unknown fields are errors), with kubernetes-validate.
2. Applies the project's own rules to the rendered objects: every workload container has CPU and memory
   limits, runs as non-root without privilege escalation and with all capabilities dropped; every long-running
   container has liveness and readiness probes; our own image runs with a read-only root filesystem; every
   pod sets a termination grace period; Services, HPAs and PDBs point at workloads that exist; the default
   deny NetworkPolicy is present.
3. Checks deploy/compose.yaml's structure (services, dependencies, secrets, the four services' commands).

Prints one line per problem and exits non-zero if there is any.
"""
import pathlib
import subprocess
import sys

import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S_VERSION = "1.32.0"
OUR_IMAGE = "junqo/backend"
SERVICES = ["auth", "conversations", "realtime", "gateway"]
problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


def render(overlay):
    result = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        problem(overlay.name, f"kustomize failed: {result.stderr.strip()}")
        return []
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def check_schema(overlay, objects):
    for obj in objects:
        name = f"{overlay}/{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problem(name, f"schema: {error.message} at {'.'.join(str(p) for p in error.path)}")
        except Exception as error:  # an unknown kind or version
            problem(name, f"schema: {error}")


def pod_specs(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            yield obj, obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Job":
            yield obj, obj["spec"]["template"]["spec"]


def check_rules(overlay, objects):
    workloads = {}
    for obj, pod in pod_specs(objects):
        name = f"{overlay}/{obj['kind']}/{obj['metadata']['name']}"
        workloads[obj["metadata"]["name"]] = obj
        security = pod.get("securityContext", {})
        if not security.get("runAsNonRoot"):
            problem(name, "pod securityContext.runAsNonRoot is not true")
        if "terminationGracePeriodSeconds" not in pod:
            problem(name, "no terminationGracePeriodSeconds")
        if pod.get("automountServiceAccountToken", True):
            problem(name, "service account token is mounted (set automountServiceAccountToken: false)")
        for kind, containers in (("container", pod.get("containers", [])), ("init container", pod.get("initContainers", []))):
            for container in containers:
                where = f"{name} {kind} {container['name']}"
                limits = container.get("resources", {}).get("limits", {})
                for resource in ("cpu", "memory"):
                    if resource not in limits:
                        problem(where, f"no {resource} limit")
                context = container.get("securityContext", {})
                if context.get("allowPrivilegeEscalation") is not False:
                    problem(where, "allowPrivilegeEscalation is not false")
                if "ALL" not in context.get("capabilities", {}).get("drop", []):
                    problem(where, "capabilities are not all dropped")
                if container["image"].split(":")[0].endswith(OUR_IMAGE) and not context.get("readOnlyRootFilesystem"):
                    problem(where, "our image must run with a read-only root filesystem")
                if kind == "container":
                    for probe in ("livenessProbe", "readinessProbe"):
                        if probe not in container:
                            problem(where, f"no {probe}")

    labels = {
        name: obj["spec"]["template"]["metadata"].get("labels", {}) for name, obj in workloads.items()
    }
    for obj in objects:
        name = f"{overlay}/{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Service":
            selector = obj["spec"].get("selector", {})
            if not any(all(l.get(k) == v for k, v in selector.items()) for l in labels.values()):
                problem(name, f"selector {selector} matches no workload")
        elif obj["kind"] == "PodDisruptionBudget":
            selector = obj["spec"]["selector"]["matchLabels"]
            if not any(all(l.get(k) == v for k, v in selector.items()) for l in labels.values()):
                problem(name, f"selector {selector} matches no workload")
        elif obj["kind"] == "HorizontalPodAutoscaler":
            target = obj["spec"]["scaleTargetRef"]["name"]
            if target not in workloads:
                problem(name, f"scales {target}, which does not exist")
    if not any(o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "default-deny-ingress" for o in objects):
        problem(overlay, "no default-deny-ingress NetworkPolicy")
    for service in SERVICES:
        if service not in workloads:
            problem(overlay, f"no workload for {service}")


def check_compose():
    path = ROOT / "deploy" / "compose.yaml"
    compose = yaml.safe_load(path.read_text())
    services = compose.get("services", {})
    secrets = compose.get("secrets", {})
    for name, service in services.items():
        where = f"compose/{name}"
        if "image" not in service and "build" not in service:
            problem(where, "neither image nor build")
        depends = service.get("depends_on", [])
        for dependency in depends if isinstance(depends, list) else depends.keys():
            if dependency not in services:
                problem(where, f"depends on unknown service {dependency}")
        for secret in service.get("secrets", []):
            if secret not in secrets:
                problem(where, f"uses undeclared secret {secret}")
    for secret in secrets.values():
        if not (path.parent / secret["file"]).is_file():
            problem("compose", f"secret file {secret['file']} is missing")
    for name in SERVICES:
        command = services.get(name, {}).get("command", [])
        if command != [f"/usr/local/bin/{name}"]:
            problem(f"compose/{name}", f"command is {command}")
    for name in ("postgres", "rabbitmq", "otel-collector", "jaeger"):
        if name not in services:
            problem("compose", f"no {name} service")


def main():
    overlays = sorted((ROOT / "k8s" / "overlays").iterdir())
    if not overlays:
        problem("k8s", "no overlays")
    for overlay in overlays:
        objects = render(overlay)
        check_schema(overlay.name, objects)
        check_rules(overlay.name, objects)
        print(f"k8s/overlays/{overlay.name}: {len(objects)} objects rendered and checked")
    check_compose()
    print("deploy/compose.yaml: checked")
    for line in problems:
        print(f"PROBLEM {line}")
    units = [f"{o.name}/" for o in overlays] + ["compose/"]
    failed = sum(1 for unit in units if any(p.startswith(unit) or p.startswith(unit[:-1] + ":") for p in problems))
    print(f"deploy: {len(units) - failed} passed, {failed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
