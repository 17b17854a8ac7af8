# Copyright 2026 invoice_client_pay contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Invoice Client Pay - Demo Payments",
    "summary": "Demo set-up of Invoice Client Pay: a test payment provider, wire "
    "transfer with bank details, a saved card for auto-charge",
    "version": "19.0.1.0.0",
    "category": "Hidden",
    "author": "invoice_client_pay contributors",
    "license": "LGPL-3",
    "installable": True,
    "depends": [
        "invoice_client_pay",
        "payment_demo",
    ],
    "demo": [
        "demo/invoice_client_pay_demo_data.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "invoice_client_pay_demo/static/tests/tours/**/*",
        ],
    },
}
