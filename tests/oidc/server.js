// An OpenID provider for the single sign-on tests (tests/test_sso.py), built on the certified
// `oidc-provider`. One confidential client (the desk), a few accounts with a `groups` claim, and
// a login form of its own: a test signs in by posting a login name (no password: test accounts
// only), and the desk is trusted without a consent screen. RP-initiated logout is on.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI.
import http from 'node:http';
import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
};

const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;

export const accounts = {
  ada: { name: 'Ada Operator', email: 'ada@example.com', groups: ['desk-operators', 'team:Shop desk'] },
  grace: { name: 'Grace Admin', email: 'grace@example.com', groups: ['desk-operators', 'desk-admins'] },
  mallory: { name: 'Mallory Visitor', email: 'mallory@example.com', groups: ['team:Shop desk'] },
};
// A test may move an account into other groups between two logins: POST /test/groups/<login>
// with a JSON list.
const groups = Object.fromEntries(Object.entries(accounts).map(([id, a]) => [id, a.groups]));

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env('CLIENT_ID'),
      client_secret: env('CLIENT_SECRET'),
      redirect_uris: [env('REDIRECT_URI')],
      post_logout_redirect_uris: [env('POST_LOGOUT_REDIRECT_URI')],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: account.name,
          email: account.email,
          email_verified: true,
          groups: groups[id],
        };
      },
    };
  },
  // The desk is a first-party client: every scope it asks for is granted without a consent page.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = `<!doctype html><title>Sign out</title>${form}
<button form="op.logoutForm" name="logout" value="yes">Sign out</button>`;
      },
    },
  },
  cookies: { keys: ['tests-only-not-a-secret'] },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
});

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><title>Test provider sign-in</title>
<form method="post" action="/interaction/${escape(uid)}">
<label>Login <input name="login"></label><button>Sign in</button></form>`);
    return;
  }
  const login = new URLSearchParams(await readBody(req)).get('login') ?? '';
  if (!accounts[login]) {
    res.statusCode = 400;
    res.end(`unknown account ${escape(login)}`);
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([\w-]+)$/);
    if (match) return await interaction(req, res, match[1]);
    const moved = url.pathname.match(/^\/test\/groups\/(\w+)$/);
    if (moved && req.method === 'POST' && accounts[moved[1]]) {
      groups[moved[1]] = JSON.parse(await readBody(req));
      res.end('ok');
      return;
    }
    return provider.callback()(req, res);
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
