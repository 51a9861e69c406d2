"""``make images``: the product's container images, built here with buildah and cached as archives.

No registry is reachable from the test bed, so the real node's containerd gets its images with
``ctr images import`` (:func:`import_images`). Everything comes from this checkout, PyPI and Debian:

* a Debian bookworm base made by ``mmdebstrap`` from the machine's apt sources, passed to every
  Dockerfile as ``BASE_IMAGE`` (their default stays a public image, so ``docker build`` still works);
* the operator, the CPU engine builder and the CPU Triton image from the repository's Dockerfiles;
* the pod sandbox ("pause") image: tools/gobin/pause, a static Go binary in a scratch image.

An image is rebuilt only when the hash of its inputs changes: its Dockerfile, the files it is built
from, the base's identity, the exact wheel set and the build arguments. Python packages come from a
host wheelhouse (``pip download`` once, shared by every image and rebuild) bind-mounted into the
build, so builds run offline with ``--network=none``. The wheels PyPI's torch pins but never loads on
CPU are empty placeholders there (``CPU_PLACEHOLDERS``). Each build leaves a docker-archive
``<name>-<hash>.tar`` (written atomically; older ones are deleted) and its line in ``index.json``
under ``~/.cache/diffusion-operator/images/``, and its size and time in bench/results/images.json.

One module per job, in the order a build runs them:

* :mod:`.recipes` - what each image is built from, and the hash of those inputs (pure);
* :mod:`.wheelhouse` - the pinned wheels of a recipe, downloaded once, and the CPU placeholders;
* :mod:`.base` - the Debian base image every other image is built on;
* :mod:`.cache` - the archives, this checkout's index of its current builds, pruning, the lock;
* :mod:`.build` - one image's ``buildah bud`` (only when no archive of its hash exists), and all of them;
* :mod:`.containerd` - importing the archives into a node's containerd;
* :mod:`.steps` - running one step as a subprocess, its failure an :class:`ImageBuildError`.

``python -m testbed.images build|import|ls`` is the command line (``__main__``).
"""

from testbed.images.build import build_all, build_image
from testbed.images.cache import ARCHIVES_KEPT_PER_IMAGE, CachedImage, cached_images, images_dir, index_path
from testbed.images.containerd import HASH_LABEL, containerd_images, import_images
from testbed.images.recipes import PAUSE_TAG, RECIPES, ImageRecipe, input_files, input_hash
from testbed.images.steps import ImageBuildError
from testbed.images.wheelhouse import CPU_PLACEHOLDERS, placeholder_wheel, wheel_closure

__all__ = [
    "ARCHIVES_KEPT_PER_IMAGE",
    "CPU_PLACEHOLDERS",
    "HASH_LABEL",
    "PAUSE_TAG",
    "RECIPES",
    "CachedImage",
    "ImageBuildError",
    "ImageRecipe",
    "build_all",
    "build_image",
    "cached_images",
    "containerd_images",
    "images_dir",
    "import_images",
    "index_path",
    "input_files",
    "input_hash",
    "placeholder_wheel",
    "wheel_closure",
]
