# Serves TCP port 1234; each connection is upgraded to h2c on dockerd's /grpc endpoint
# and then copied both ways, so a plain gRPC client on 1234 talks to dockerd's BuildKit.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;

$SIG{CHLD} = 'IGNORE';
my $listener = IO::Socket::INET->new(
    LocalAddr => '0.0.0.0',
    LocalPort => 1234,
    Listen    => 64,
    ReuseAddr => 1,
) or die "listen on 1234: $!";

while (1) {
    my $client = $listener->accept or next;
    if (fork) {
        close $client;
        next;
    }
    close $listener;
    my $daemon = IO::Socket::UNIX->new(Peer => '/var/run/docker.sock') or exit 1;
    syswrite $daemon, "POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
      . "Upgrade: h2c\r\nContent-Length: 0\r\n\r\n";
    my $head = '';
    while ($head !~ /\r\n\r\n\z/) {
        sysread($daemon, my $byte, 1) or exit 1;
        $head .= $byte;
    }
    $head =~ m{\AHTTP/1\.1 101 } or exit 1;
    my $ready = IO::Select->new($client, $daemon);
    while (my @readable = $ready->can_read) {
        for my $from (@readable) {
            my $to = $from == $client ? $daemon : $client;
            my $read = sysread $from, my $buffer, 65536;
            exit 0 unless $read;
            defined syswrite($to, $buffer) or exit 0;
        }
    }
    exit 0;
}
