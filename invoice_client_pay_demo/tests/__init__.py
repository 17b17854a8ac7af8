from . import test_demo_payment
