"""Customer service: what the console (app.web.cs, app.web.cs_search) and the API do for the people who answer
customers, across the whole chain: finding an order from whatever the customer has at hand (search)."""
