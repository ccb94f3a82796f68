# Shared by scripts/serve and scripts/test: a local virtualenv with the pinned requirements.
venv_install() {
  local requirements="$1" python="${PYTHON:-}"
  if [ -z "$python" ]; then
    python=$(command -v python3.11 || command -v python3)
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(sha256sum "$requirements" requirements.txt | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r "$requirements"
    touch "$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}
