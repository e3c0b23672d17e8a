from actionpose.cli import main

raise SystemExit(main())
