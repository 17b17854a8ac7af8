from . import account_credit_request_refund
from . import account_pay_from_credit
from . import account_payment_register
from . import account_take_payment
from . import payment_refund_wizard
