from tracereplay.cli import main

main()
