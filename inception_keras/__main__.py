import sys

from inception_keras.cli.app import main

sys.exit(main())
