from courier.demo.server import main

main()
