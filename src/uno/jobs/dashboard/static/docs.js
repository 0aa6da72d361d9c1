"use strict";
// Swagger UI for this server's OpenAPI document, from the files the package ships
// (no CDN). Kept out of docs.html: the page's CSP allows no inline script.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
