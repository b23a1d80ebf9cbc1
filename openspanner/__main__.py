import sys

from openspanner.cli import main

sys.exit(main())
