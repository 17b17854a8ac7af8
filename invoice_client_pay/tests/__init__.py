from . import test_client_credit
from . import test_credit_request
from . import test_auto_mark_paid
from . import test_pay_from_credit
