"""What every `cnm network|container` command shares: argument errors with the
docker CLI's exit statuses, and daemon errors printed the docker CLI's way."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from emulator.client import format as fmt
from emulator.client import target

# docker's exit status for a bad flag (cobra's flag errors); bad arguments exit 1.
FLAG_ERROR = 125


class ClientError(Exception):
    """Ends the command: `message` on stderr (when not empty), exit `status`."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ClientParser(argparse.ArgumentParser):
    """A leaf command's parser: errors exit like docker's (125 for flags, else 1)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def error(self, message: str):
        flag = message.startswith(("argument -", "unrecognized arguments: -"))
        self.exit(FLAG_ERROR if flag else 1,
                  f"{self.prog}: {message}\n\n{self.format_usage().strip()}\n"
                  f"Run '{self.prog} --help' for more information\n")


def daemon_message(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None) or str(exc)
    return f"Error response from daemon: {explanation}"


def run(handler: Callable[[argparse.Namespace, object], int]) -> Callable[..., int]:
    """Wrap handler(args, api) into a `cnm` command function returning the exit status."""

    @functools.wraps(handler)
    def command(args: argparse.Namespace) -> int:
        import docker.errors
        import requests.exceptions

        url = target.docker_host(args.host, args.lab)
        cannot_connect = (f"Cannot connect to the Docker daemon at {url}. Is the docker daemon "
                          "running?")
        try:
            api = target.connect(url)
        except docker.errors.DockerException:
            print(cannot_connect, file=sys.stderr)
            return 1
        try:
            return handler(args, api)
        except ClientError as exc:
            if exc.message:
                print(exc.message, file=sys.stderr)
            return exc.status
        except docker.errors.APIError as exc:
            print(daemon_message(exc), file=sys.stderr)
            return 1
        except requests.exceptions.ConnectionError:
            print(cannot_connect, file=sys.stderr)
            return 1
        finally:
            api.close()

    return command


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def key_values(items: list[str] | None) -> dict[str, str]:
    """docker's MapOpts/labels: `K=V` (or `K`, an empty value) into a dict."""
    result: dict[str, str] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        result[key] = value
    return result


def filter_arg(text: str) -> tuple[str, str]:
    """A `-f KEY=VALUE` flag."""
    key, eq, value = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError("bad format of filter (expected name=value)")
    return key.strip().lower(), value.strip()


def filters(pairs: list[tuple[str, str]] | None) -> dict[str, list[str]] | None:
    if not pairs:
        return None
    result: dict[str, list[str]] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def inspect_objects(api, path: str, names: list[str], template: str | None,
                    params: dict | None = None) -> int:
    """docker's inspect.Inspect: the objects found, then the errors; 1 if any."""
    import docker.errors

    raws, errors = [], []
    for name in names:
        try:
            raws.append(target.get_raw(api, path, name, params=params))
        except docker.errors.APIError as exc:
            errors.append(daemon_message(exc))
    try:
        out, template_errors = fmt.inspect_output(raws, template)
    except fmt.FormatError as exc:
        raise ClientError(exc.message, exc.status) from None
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    errors += template_errors
    if errors:
        raise ClientError("\n".join(errors))
    return 0
