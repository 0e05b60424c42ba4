// Swagger UI for /openapi.json, from the locally installed swagger-ui-dist (no CDN), in a
// script file because the page's CSP allows no inline script. The session cookie goes
// with "Try it out" requests (same origin), as with the product's own pages.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // the default asks a server on the internet to validate the schema
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
