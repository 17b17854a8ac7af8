from . import mail
from . import payment
from . import portal
from . import stripe_webhook
