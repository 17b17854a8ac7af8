import { registry } from "@web/core/registry";

/**
 * Client payment tours. The test provider redirects to the payment status page
 * (like a hosted payment page would); the test then plays the provider's
 * confirmation on the server and checks the ledger.
 */

const payOnThisPage = (scope) => [
    {
        content: "Choose the payment method",
        trigger: `${scope} input[name='o_payment_radio']`,
        run: "click",
    },
    {
        content: "Pay",
        trigger: `${scope} button[name='o_payment_submit_button']:enabled`,
        run: "click",
        expectUnloadPage: true,
    },
    {
        content: "The payment status page takes over",
        trigger: "div[name='o_payment_status']",
    },
];

registry.category("web_tour.tours").add("icp_tour_pay_now_logged_in", {
    url: "/my",
    steps: () => [
        {
            content: "The panel shows the credit balance",
            trigger: "#o_icp_unpaid_panel .o_icp_credit_balance",
        },
        {
            content: "Pay Now on the credit request",
            trigger: "#o_icp_unpaid_panel tr.o_icp_unpaid_credit_request a.o_icp_pay_now",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The checkout shows what is still to pay",
            trigger: ".o_icp_pay_unpaid_page .o_icp_total:contains('300.00')",
        },
        ...payOnThisPage(".o_icp_pay_unpaid_page"),
    ],
});

registry.category("web_tour.tours").add("icp_tour_pay_by_link", {
    steps: () => [
        {
            content: "The credit request opens without login",
            trigger: ".o_icp_credit_request_page .o_icp_still_to_pay:contains('300.00')",
        },
        {
            content: "Pay Now",
            trigger: ".o_icp_credit_request_page a.o_icp_pay_now",
            run: "click",
        },
        ...payOnThisPage("#o_icp_pay"),
    ],
});

registry.category("web_tour.tours").add("icp_tour_pay_several", {
    url: "/my",
    steps: () => [
        {
            content: "Tick the invoice",
            trigger: "#o_icp_unpaid_panel tr.o_icp_unpaid_invoice input[name='items']",
            run: "click",
        },
        {
            content: "Tick the credit request",
            trigger: "#o_icp_unpaid_panel tr.o_icp_unpaid_credit_request input[name='items']",
            run: "click",
        },
        {
            content: "Pay the selection",
            trigger: "#o_icp_unpaid_panel button.o_icp_pay_selected",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "One checkout for both, for their total",
            trigger: ".o_icp_pay_unpaid_page .o_icp_total:contains('420.00')",
        },
        ...payOnThisPage(".o_icp_pay_unpaid_page"),
    ],
});

registry.category("web_tour.tours").add("icp_tour_partial_amount", {
    steps: () => [
        {
            content: "Type a smaller amount",
            trigger: "#o_icp_pay input[name='o_icp_amount']",
            run: "edit 125",
        },
        ...payOnThisPage("#o_icp_pay"),
    ],
});

registry.category("web_tour.tours").add("icp_tour_pay_invoice_by_link", {
    steps: () => [
        {
            content: "Pay Now on the invoice opened from the emailed link",
            trigger: "a[data-bs-target='#pay_with']",
            run: "click",
        },
        ...payOnThisPage("#pay_with"),
    ],
});

registry.category("web_tour.tours").add("icp_tour_pay_all_link", {
    steps: () => [
        {
            content: "The reminder's pay-all link opens the checkout without login",
            trigger: ".o_icp_pay_unpaid_page .o_icp_total:contains('420.00')",
        },
        ...payOnThisPage(".o_icp_pay_unpaid_page"),
    ],
});
