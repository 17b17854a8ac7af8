# Copyright 2026 invoice_client_pay contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Invoice Client Pay",
    "summary": "Client credit balance, credit requests, portal payments and "
    "paying invoices from a client's credit",
    "version": "19.0.1.0.0",
    "category": "Accounting/Accounting",
    "author": "invoice_client_pay contributors",
    "license": "LGPL-3",
    "application": False,
    "installable": True,
    "external_dependencies": {"python": ["stripe"]},
    "depends": [
        "account_payment",
        "portal",
        "payment_custom",
        "payment_stripe",
    ],
    "data": [
        "security/invoice_client_pay_security.xml",
        "security/ir.model.access.csv",
        "data/ir_sequence_data.xml",
        "data/ir_cron_data.xml",
        "data/mail_template_data.xml",
        "data/mail_template_client_pay.xml",
        "data/mail_template_auto_charge.xml",
        "data/mail_template_reminder.xml",
        "report/account_invoice_report_templates.xml",
        "report/credit_request_report.xml",
        "report/client_credit_statement_report.xml",
        "views/account_credit_request_views.xml",
        "views/account_move_views.xml",
        "views/account_move_line_views.xml",
        "views/res_partner_views.xml",
        "views/reminder_schedule_views.xml",
        "views/res_config_settings_views.xml",
        "views/portal_templates.xml",
        "wizards/account_pay_from_credit_views.xml",
        "wizards/account_take_payment_views.xml",
        "wizards/account_credit_request_refund_views.xml",
        "wizards/payment_refund_wizard_views.xml",
        "views/invoice_client_pay_menus.xml",
    ],
    "demo": [
        "demo/invoice_client_pay_demo.xml",
    ],
    "assets": {
        "web.assets_frontend": [
            "invoice_client_pay/static/src/interactions/**/*",
        ],
        "web.assets_tests": [
            "invoice_client_pay/static/tests/tours/**/*",
        ],
    },
}
