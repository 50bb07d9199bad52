"""What Pulumi runs for the pack (`python -m pulumi.policy <engine> <this folder>` runs this file as a script,
with this folder first on sys.path): build the pack and serve it."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type checkers see this file as policy.__main__, inside the project
    from .stackhub_policies import build_pack
else:
    from stackhub_policies import build_pack

build_pack()
