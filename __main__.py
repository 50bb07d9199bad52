"""Entry point of the Pulumi program: `pulumi up` runs the program of the selected stack's role."""

import pulumi

from stacks import main
from stacks.config import ConfigError
from stacks.project import ProjectFileError

try:
    main()
except (ConfigError, ProjectFileError) as error:
    # RunError ends the program with the message alone, no traceback.
    raise pulumi.RunError(str(error)) from None
