#!/usr/bin/env bash
# The README's test command: installs everything the tests need on a fresh machine
# (openssh-server, the client, busybox and sudo via apt-get when missing, a venv with the test
# extra), then runs lint, formatting, types and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
# The wrapper must work under busybox sh and its applets too (tests/test_remote_safety.py).
command -v busybox >/dev/null 2>&1 || need_apt+=(busybox)
# The become tests run sudo as real local users (tests/becomeusers.py).
command -v sudo >/dev/null 2>&1 || need_apt+=(sudo)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "installing ${need_apt[*]} (apt-get)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
# Three workers: the tests mostly wait on hosts (sshd, sleeps), so both cores stay busy.
.venv/bin/pytest -n 3 "$@"
