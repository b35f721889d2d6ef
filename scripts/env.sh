# Sourced by the Makefile and scripts: points tch at the project venv's PyTorch.
# Never set these by hand; `make` targets source this file.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VIRTUAL_ENV="$_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
if _torch_lib="$("$VIRTUAL_ENV/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"; then
  export LD_LIBRARY_PATH="$_torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# OpenSlide 4 from the openslide-bin wheel (scripts/setup.sh): linked through this pkg-config
# file, found at run time through the rpath the trainer's build.rs sets from this variable.
if [ -f "$VIRTUAL_ENV/openslide4/pkgconfig/openslide.pc" ]; then
  export PKG_CONFIG_PATH="$VIRTUAL_ENV/openslide4/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export MELANOSCOPE_OPENSLIDE_LIB="$(readlink -f "$VIRTUAL_ENV/openslide4/lib/libopenslide.so" | xargs dirname)"
fi
unset _root _torch_lib
