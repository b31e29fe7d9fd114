<?php
// Helper of scripts/lab.d/zabbix.sh: JSON-RPC calls to the lab's Zabbix 6.0 API through
// PHP's own HTTP stream wrapper, so the lab needs neither curl nor jq (php-cli is installed
// anyway for the frontend).
//
//   php api.php URL version
//       print the API version; apiinfo.version must be called without auth in 6.0.
//   php api.php URL token USER PASSWORD_FILE NAME
//       log in as USER, replace USER's API token NAME by a new one that never expires and
//       print the token (64 hex characters, no newline). The password comes from a file so
//       that it never shows in a process list.
// Errors go to stderr with exit status 1.

function fail($msg) {
	fwrite(STDERR, "api.php: $msg\n");
	exit(1);
}

function rpc($url, $method, $params, $auth = null) {
	$req = ['jsonrpc' => '2.0', 'method' => $method, 'params' => $params, 'id' => 1];
	// 6.0 takes the session in the body field "auth"; a Bearer header only works from 6.4.
	if ($auth !== null) {
		$req['auth'] = $auth;
	}
	$ctx = stream_context_create(['http' => [
		'method' => 'POST',
		'header' => "Content-Type: application/json-rpc\r\n",
		'content' => json_encode($req),
		'timeout' => 10,
		'ignore_errors' => true,
	]]);
	$body = @file_get_contents($url, false, $ctx);
	if ($body === false) {
		fail("$method: no answer from $url");
	}
	$resp = json_decode($body, true);
	if (!is_array($resp)) {
		fail("$method: not JSON-RPC: ".substr($body, 0, 300));
	}
	if (isset($resp['error'])) {
		fail("$method: ".$resp['error']['message'].' '.$resp['error']['data']);
	}
	return $resp['result'];
}

if ($argc < 3) {
	fail('usage: api.php URL version | api.php URL token USER PASSWORD_FILE NAME');
}
$url = $argv[1];
switch ($argv[2]) {
	case 'version':
		echo rpc($url, 'apiinfo.version', []), "\n";
		break;

	case 'token':
		if ($argc != 6) {
			fail('usage: api.php URL token USER PASSWORD_FILE NAME');
		}
		[, , , $user, $pwfile, $name] = $argv;
		$password = @file_get_contents($pwfile);
		if ($password === false) {
			fail("cannot read $pwfile");
		}
		$session = rpc($url, 'user.login', ['username' => $user, 'password' => trim($password)]);
		$users = rpc($url, 'user.get', ['output' => ['userid'], 'filter' => ['username' => $user]], $session);
		if (count($users) != 1) {
			fail("user $user not found");
		}
		$userid = $users[0]['userid'];
		// Token names are unique per user: drop one left by an earlier, interrupted run.
		$old = rpc($url, 'token.get', ['output' => ['tokenid'], 'userids' => [$userid], 'filter' => ['name' => $name]], $session);
		if ($old) {
			rpc($url, 'token.delete', array_column($old, 'tokenid'), $session);
		}
		$created = rpc($url, 'token.create', ['name' => $name, 'userid' => $userid, 'expires_at' => 0], $session);
		$generated = rpc($url, 'token.generate', $created['tokenids'], $session);
		$token = $generated[0]['token'];
		if (!preg_match('/^[0-9a-f]{64}$/', $token)) {
			fail('token.generate returned an unexpected token format');
		}
		rpc($url, 'user.logout', [], $session);
		echo $token;
		break;

	default:
		fail("unknown command {$argv[2]}");
}
