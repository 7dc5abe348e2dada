// The OpenID provider of the tests: `oidc-provider` (npm) on a free loopback port, started and
// stopped by tests/it/common/oidc.rs. It prints `listening <issuer URL>` once it accepts requests.
//
// Settings come as JSON in $OIDC_TEST_CONFIG:
//   client_id, client_secret, redirect_uri   the one client (testum), secret sent by HTTP Basic
//   users       { login: { password, username?, groups? } }: who may sign in; the ID token carries
//               `sub` = "sub-<login>", `preferred_username` = username (default: login), `groups`
//   clock_offset_secs   shifts this provider's clock (a negative offset with a short
//               id_token_ttl_secs mints ID tokens that are already expired when testum reads them)
//   id_token_ttl_secs   ID token lifetime (default 3600)
//
// The sign-in page is a plain form (login, password) instead of the library's development pages,
// which fetch web fonts from the Internet; consent is granted without asking (a first-party client).

import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG ?? '{}');
const offsetMs = (config.clock_offset_secs ?? 0) * 1000;
if (offsetMs !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
}
const users = config.users ?? {};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  // The scope's claims go in the ID token, which is what testum reads.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  ttl: { IdToken: config.id_token_ttl_secs ?? 3600 },
  cookies: { keys: ['testum test provider cookie key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // The account id, hence `sub`, is "sub-<login>": not the username, as at real providers.
  async findAccount(ctx, accountId) {
    const login = accountId.replace(/^sub-/, '');
    const user = users[login];
    if (!user) return undefined;
    return {
      accountId,
      async claims() {
        return {
          sub: accountId,
          preferred_username: user.username ?? login,
          name: login,
          groups: user.groups ?? [],
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile groups');
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, error) {
  res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Test provider sign-in</title>
<h1>Test provider</h1>${error ? `<p id="provider-error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<input name="login" id="provider-login" autocomplete="off">
<input name="password" id="provider-password" type="password">
<button type="submit" id="provider-submit">Sign in</button></form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

server.on('request', async (req, res) => {
  const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(req.url.split('?')[0]);
  if (!match) return provider.callback()(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') return loginPage(res, details.uid);
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    if (!users[login] || users[login].password !== form.get('password')) {
      return loginPage(res, details.uid, 'wrong login or password');
    }
    await provider.interactionFinished(req, res, { login: { accountId: `sub-${login}` } }, {
      mergeWithLastSubmission: false,
    });
  } catch (err) {
    console.error('interaction error', err);
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(String(err));
  }
});

console.log(`listening ${issuer}`);
