"""`mesh env`'s shell text (emulator/mesh/shellenv.py), run by bash as users run it:
`eval $(...)` unquoted (lines joined by spaces) and `eval "$(...)"`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from emulator.mesh.shellenv import proxy_exports, restore_exports, upstream_of

PROXY = "unix:///run/cnm/me1/plugins/h1/mesh.d/docker.sock"
ENGINE = "unix:///run/cnm/me1/h1.sock"
SHOW = 'echo "DOCKER_HOST=${DOCKER_HOST-unset} ORIG_DOCKER_HOST=${ORIG_DOCKER_HOST-unset}"'

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def after_eval(text: str, environ: dict[str, str], quoted: bool) -> str:
    """What the variables are after `eval` of `text` followed by a comment line, as
    `mesh env` prints it."""
    printed = text + "\n# a comment: eval $(mesh env)\n"
    script = ('eval "$(cat)"' if quoted else "eval $(cat)") + "; " + SHOW
    done = subprocess.run(["bash", "-c", script], input=printed, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **environ}, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("quoted", [False, True], ids=["unquoted", "quoted"])
def test_env_then_restore_gives_back_the_engine(quoted):
    shell = {"DOCKER_HOST": ENGINE}
    assert after_eval(proxy_exports(PROXY, shell), shell, quoted) == \
        f"DOCKER_HOST={PROXY} ORIG_DOCKER_HOST={ENGINE}"
    during = {"DOCKER_HOST": PROXY, "ORIG_DOCKER_HOST": ENGINE}
    assert after_eval(restore_exports(during), during, quoted) == \
        f"DOCKER_HOST={ENGINE} ORIG_DOCKER_HOST=unset"


@pytest.mark.parametrize("quoted", [False, True], ids=["unquoted", "quoted"])
def test_without_a_docker_host_before_restore_unsets_it(quoted):
    assert after_eval(proxy_exports(PROXY, {}), {}, quoted) == \
        f"DOCKER_HOST={PROXY} ORIG_DOCKER_HOST="
    during = {"DOCKER_HOST": PROXY, "ORIG_DOCKER_HOST": ""}
    assert after_eval(restore_exports(during), during, quoted) == \
        "DOCKER_HOST=unset ORIG_DOCKER_HOST=unset"


def test_env_twice_keeps_the_first_original():
    during = {"DOCKER_HOST": PROXY, "ORIG_DOCKER_HOST": ENGINE}
    assert after_eval(proxy_exports(PROXY, during), during, False) == \
        f"DOCKER_HOST={PROXY} ORIG_DOCKER_HOST={ENGINE}"


def test_env_on_another_hosts_proxy_keeps_the_first_original():
    h2_proxy = PROXY.replace("/h1/", "/h2/")
    during = {"DOCKER_HOST": h2_proxy, "ORIG_DOCKER_HOST": ENGINE}
    assert after_eval(proxy_exports(PROXY, during), during, False) == \
        f"DOCKER_HOST={PROXY} ORIG_DOCKER_HOST={ENGINE}"


def test_restore_without_an_original_falls_back_or_does_nothing():
    assert after_eval(restore_exports({"DOCKER_HOST": PROXY}, ENGINE), {"DOCKER_HOST": PROXY},
                      False) == f"DOCKER_HOST={ENGINE} ORIG_DOCKER_HOST=unset"
    assert restore_exports({"DOCKER_HOST": PROXY}) is None


def test_a_path_with_spaces_survives_eval():
    odd = "unix:///tmp/a b/docker.sock"
    assert after_eval(proxy_exports(PROXY, {"DOCKER_HOST": odd}), {"DOCKER_HOST": odd},
                      True) == f"DOCKER_HOST={PROXY} ORIG_DOCKER_HOST={odd}"


def test_the_proxy_fronts_the_given_engine_else_the_shells():
    assert upstream_of(ENGINE, {"DOCKER_HOST": "unix:///other.sock"}, PROXY) == ENGINE
    assert upstream_of(None, {"DOCKER_HOST": ENGINE}, PROXY) == ENGINE
    assert upstream_of(None, {"DOCKER_HOST": PROXY, "ORIG_DOCKER_HOST": ENGINE}, PROXY) == \
        ENGINE
    assert upstream_of(None, {}, PROXY) is None
