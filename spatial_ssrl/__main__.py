import sys

from spatial_ssrl.cli import main

sys.exit(main())
