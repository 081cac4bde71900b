from lume_prefect.cli import main

main()
