from healthkiosk.cli import main

raise SystemExit(main())
